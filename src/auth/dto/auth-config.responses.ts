import { ApiProperty } from '@nestjs/swagger';

/* The JSON body of `GET /v1/auth/config`. */

export class CliClientDto {
  @ApiProperty({
    example: 'rungate-cli',
    description: 'Public client (device authorization grant, RFC 8628)',
  })
  clientId!: string;

  @ApiProperty({ example: 'openid offline_access' })
  scope!: string;
}

export class ClientAuthConfigDto {
  @ApiProperty({
    example: 'http://127.0.0.1:8081/dev-oidc',
    description:
      'The OIDC issuer whose tokens the gateway accepts (discovery at /.well-known/openid-configuration)',
  })
  issuer!: string;

  @ApiProperty({ example: 'urn:rungate', description: "Audience of the gateway's access tokens" })
  audience!: string;

  @ApiProperty({ type: CliClientDto })
  cli!: CliClientDto;

  @ApiProperty({
    type: 'integer',
    minimum: 0,
    example: 900,
    description: 'How recent a sign-in approving, denying and breaking glass need, in seconds',
  })
  stepUpMaxAgeSeconds!: number;
}
