import { defineConfig } from "vite";

// The same build serves the desktop app (Tauri loads ui/dist) and `photo-search serve`.
export default defineConfig({
  root: new URL(".", import.meta.url).pathname,
  base: "./",
  clearScreen: false,
  build: { outDir: "dist", emptyOutDir: true, target: "es2022", sourcemap: false },
  server: { port: 5173, strictPort: true, proxy: { "/api": "http://127.0.0.1:8765" } },
  test: { include: ["src/**/*.test.ts"], environment: "node" },
});
