import { defineConfig } from 'vite';

// The client is served by the daemon itself (`switchyard serve --web-dir
// examples/web/dist`), same-origin with the API, under a strict CSP: no
// inline scripts, so no inlined module preload polyfill either.
export default defineConfig({
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // The SDK's .wasm (~115 KiB gzipped) must stay a file the glue fetches.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: true,
    chunkSizeWarningLimit: 1024,
  },
  // Pre-bundling would move the SDK's JS away from its .wasm (it is found
  // with `new URL(..., import.meta.url)`).
  optimizeDeps: { exclude: ['@switchyard/sdk'] },
  server: {
    // `npm run dev`: the API is proxied to the daemon ($SWITCHYARD_URL,
    // default http://127.0.0.1:7420), which must allow this origin:
    // `switchyard serve --allow-origin http://127.0.0.1:5173`.
    host: '127.0.0.1',
    port: 5173,
    strictPort: true,
    proxy: Object.fromEntries(
      ['/session', '/capabilities', '/health', '/terminals'].map((path) => [
        path,
        { target: process.env.SWITCHYARD_URL ?? 'http://127.0.0.1:7420', changeOrigin: true },
      ]),
    ),
  },
});
