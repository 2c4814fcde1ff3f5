import { Module } from '@nestjs/common';
import { SessionsRepository } from './sessions.repository';

/**
 * The session tables alone, so that the sessions-side approvals routes
 * (SessionApprovalsModule) read sessions without the rest of SessionsModule.
 */
@Module({ providers: [SessionsRepository], exports: [SessionsRepository] })
export class SessionsStoreModule {}
