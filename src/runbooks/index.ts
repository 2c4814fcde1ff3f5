export { RunbooksModule } from './runbooks.module';
export { RunbooksService, type CatalogListener } from './runbooks.service';
export { parseNotebook, normalizeNotebook, sha256Hex } from './notebook';
export { validateParameters, renderParametersCell, type ParameterProblem } from './parameters';
export type {
  CellClass,
  InvalidRunbook,
  ParameterSpec,
  ParseOptions,
  Runbook,
  RunbookCell,
} from './runbooks.types';
