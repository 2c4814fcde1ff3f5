import { Module } from '@nestjs/common';
import { SessionsRepository } from './sessions.repository';

/**
 * The session tables alone, so that modules sessions depends on (approvals, through
 * its facts port) can read them without importing SessionsModule.
 */
@Module({ providers: [SessionsRepository], exports: [SessionsRepository] })
export class SessionsStoreModule {}
