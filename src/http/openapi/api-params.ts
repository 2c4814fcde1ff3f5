import { ApiParam } from '@nestjs/swagger';

/**
 * A path parameter that must be a UUID: the routes' resolvers and pipes refuse any
 * other shape with 400 before looking anything up.
 */
export function ApiUuidParam(name: string, description: string): MethodDecorator {
  return ApiParam({ name, description, schema: { type: 'string', format: 'uuid' } });
}
