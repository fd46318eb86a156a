import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';
import tailwindcss from '@tailwindcss/vite';

// `npm run dev` serves the UI at http://localhost:5173 and proxies the chat
// server's API and WebSocket to http://localhost:8080 (start it with `make run`
// or `bin/chatserver`). The Host header is kept, so the server's same-host
// Origin check accepts the proxied WebSocket.
const target = process.env.CHAT_SERVER_URL ?? 'http://localhost:8080';

export default defineConfig({
  plugins: [react(), tailwindcss()],
  server: {
    port: 5173,
    strictPort: true,
    proxy: {
      '/api': { target },
      '/ws': { target, ws: true },
    },
  },
  build: {
    outDir: 'dist',
    // dist/.keep is committed so that go:embed works before the first build.
    emptyOutDir: false,
    chunkSizeWarningLimit: 1024,
  },
  test: {
    include: ['src/**/*.test.{ts,tsx}'],
    environment: 'node',
  },
});
