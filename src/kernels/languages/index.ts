export type { KernelLanguageAdapter, ParameterSchema } from './kernel-language';
export { adapterFor, noAdapterReason, supportedLanguages } from './registry';
export { pythonAdapter } from './python';
