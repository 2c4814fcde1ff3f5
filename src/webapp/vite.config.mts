import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

// Built with `vite build src/webapp` (this folder is the root); served by the gateway
// from dist/webapp under a CSP without inline scripts or eval, which Vite's output
// needs neither of.
export default defineConfig({
  plugins: [preact()],
  build: {
    outDir: '../../dist/webapp',
    emptyOutDir: true,
    target: 'es2022',
    // Browsers this app supports all know <link rel=modulepreload>; the polyfill is dead weight.
    modulePreload: { polyfill: false },
    sourcemap: false,
    reportCompressedSize: true,
  },
});
