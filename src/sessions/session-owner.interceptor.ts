import {
  Inject,
  Injectable,
  Logger,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Request, Response } from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import type { Observable } from 'rxjs';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.types';
import { GatewayInstance } from '../db/gateway-instance';
import { ResponseProxied, saysForwarded } from '../http/forwarding';
import { ReplicaProxy } from './replica-proxy';
import { SessionLifecycle } from './session-lifecycle';
import { SessionsRepository } from './sessions.repository';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Every route on one session: `/sessions/:id` and below. */
const SESSION_ROUTE = /(^|\/)sessions\/:id(\/|$)/;

/**
 * Where a request for a session is answered: here, or at the replica that holds the
 * session's kernel (its owner), whose address this answers. Here: a session held
 * here, one that is over or unknown, one whose owner is marked stopped (survivors mark
 * its sessions lost within the staleness bound), one whose owner has no address yet,
 * and a request that was forwarded already (never twice).
 *
 * Also records where the other replicas reach this one, once the server listens.
 */
@Injectable()
export class SessionOwners implements OnApplicationBootstrap {
  private readonly log = new Logger('Replicas');

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(GatewayInstance) private readonly instance: GatewayInstance,
    private readonly repo: SessionsRepository,
    private readonly lifecycle: SessionLifecycle,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  onApplicationBootstrap(): void {
    const server = this.adapterHost.httpAdapter?.getHttpServer() as Server | undefined;
    if (!server) return;
    const advertise = () => {
      const url = this.config.replicas.advertiseUrl ?? defaultAdvertiseUrl(this.config, server);
      if (url === undefined) return;
      this.instance.advertise(url).catch((err: unknown) => {
        this.log.warn(`could not record where other replicas reach this one: ${String(err)}`);
      });
    };
    if (server.listening) advertise();
    else server.once('listening', advertise);
  }

  /** The address of the replica that answers for session `id`, when it is not this one. */
  async elsewhere(req: Request, id: unknown): Promise<string | undefined> {
    if (typeof id !== 'string' || !UUID.test(id) || saysForwarded(req.headers)) return undefined;
    if (this.lifecycle.held(id)) return undefined;
    const owner = await this.repo.ownerOf(id);
    if (
      owner === undefined ||
      owner.instanceId === this.instance.id ||
      !owner.running ||
      owner.advertiseUrl === undefined
    ) {
      return undefined;
    }
    return owner.advertiseUrl;
  }

  /** Logs that the owner could not be reached (the request is answered here). */
  unreachable(id: string, url: string): void {
    this.log.warn(
      { session: id, owner: url },
      'the replica holding this session cannot be reached; answering from here',
    );
  }
}

/**
 * Several replicas behave as one service: a request for a session whose kernel
 * another replica holds is sent on to that replica and answered from there, as it
 * came. It runs after the guards, so this replica authenticates the caller and
 * decides policy as for any request; the owner does both again. When the owner cannot
 * be connected to, this replica answers: reads from the database, commands with
 * `409 session_ended` (not held here). On every route under /sessions/:id but the
 * event stream, which the controller proxies itself (an interceptor would make Nest
 * send a stream's headers before the owner's answer is known).
 */
@Injectable()
export class SessionOwnerInterceptor implements NestInterceptor {
  constructor(
    private readonly owners: SessionOwners,
    private readonly proxy: ReplicaProxy,
  ) {}

  async intercept(ctx: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    if (ctx.getType() !== 'http') return next.handle();
    const req = ctx.switchToHttp().getRequest<Request>();
    const res = ctx.switchToHttp().getResponse<Response>();
    const route: unknown = (req.route as { path?: unknown } | undefined)?.path;
    if (typeof route !== 'string' || !SESSION_ROUTE.test(route)) return next.handle();
    const id = String(req.params?.id);
    const url = await this.owners.elsewhere(req, id);
    if (url === undefined) return next.handle();
    if ((await this.proxy.forward(req, res, url)) === 'unreachable') {
      this.owners.unreachable(id, url);
      return next.handle();
    }
    // The answer went out as it came; nothing is left for Nest to send.
    throw new ResponseProxied();
  }
}

/** `http://<listen host>:<port>`; a wildcard host gives way to the machine's name. */
function defaultAdvertiseUrl(config: AppConfig, server: Server): string | undefined {
  const address = server.address() as AddressInfo | string | null;
  if (address === null || typeof address === 'string') return undefined;
  const wildcard = ['', '0.0.0.0', '::', '[::]'].includes(config.http.host);
  const host = wildcard ? hostname() : config.http.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
}
