import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// `npm run dev` proxies the API to a running backend:
//   OMNICHAT_BACKEND=http://127.0.0.1:8080 (the local stack, REST + WebSocket; default)
//   OMNICHAT_BACKEND=http://127.0.0.1:8000 (`omnichat serve`, REST only)
const backend = process.env.OMNICHAT_BACKEND || 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [svelte()],
  build: {
    target: 'es2022',
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    // KaTeX (a lazy chunk) is the largest: 260 KB, 78 KB gzip.
    chunkSizeWarningLimit: 300,
    // Fonts stay files of our own origin: the CSP's font-src 'self' refuses data: URLs.
    assetsInlineLimit: (file) => (/\.(?:woff2?|ttf)$/.test(file) ? false : undefined),
    rollupOptions: {
      output: {
        // The Svelte runtime and the other shared code in one plainly named chunk.
        manualChunks(id) {
          if (id.includes('node_modules/svelte/')) return 'svelte';
        },
      },
    },
  },
  server: {
    port: 5173,
    proxy: {
      '/api': { target: backend, changeOrigin: true },
      '/ws': { target: backend.replace(/^http/, 'ws'), ws: true, changeOrigin: true },
    },
  },
});
