/** Builds the browser bundle (see build-browser.mjs); returns where it went and its size. */
export function buildBrowserBundle(options?: {
  outdir?: string;
  minify?: boolean;
  log?: (line: string) => void;
}): Promise<{
  file: string;
  bytes: number;
  gzipBytes: number;
  chunkBytes: number;
  chunkGzipBytes: number;
  wasm: string | null;
}>;
