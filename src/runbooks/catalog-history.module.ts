import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { CatalogController } from './catalog.controller';
import { CatalogHistory } from './catalog-history';
import { CatalogRepository } from './catalog.repository';
import { RunbooksModule } from './runbooks.module';

/**
 * The catalog's history over the database and the audit trail: kept apart from
 * {@link RunbooksModule}, which needs only the configuration (the CLI's lint and test
 * read runbooks without a database).
 */
@Module({
  imports: [RunbooksModule, AuditModule],
  controllers: [CatalogController],
  providers: [CatalogRepository, CatalogHistory],
  exports: [CatalogHistory],
})
export class CatalogHistoryModule {}
