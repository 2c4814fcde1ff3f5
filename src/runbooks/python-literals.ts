/**
 * Moved to the Python kernel-language adapter (src/kernels/languages/python-literals.ts);
 * re-exported so existing imports keep working.
 */
export * from '../kernels/languages/python-literals';
