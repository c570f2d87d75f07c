/**
 * Debian's Chromium, headless, with WebGPU on, for page tests.
 *
 * What makes `navigator.gpu` work headless here (Chromium 156, no display, no GPU):
 * - a secure context: the page is served from http://localhost (about:blank and data: URLs have no
 *   navigator.gpu);
 * - `--enable-unsafe-webgpu` (WebGPU on Linux is still behind it) and `--enable-features=Vulkan`
 *   with `--use-angle=vulkan`;
 * - `--no-sandbox --disable-gpu-sandbox` (containers without user namespaces).
 * The adapter is then SwiftShader, the Vulkan CPU renderer that Chromium ships, reported with
 * isFallbackAdapter = true and no shader-f16. Lavapipe is not used: with `--use-vulkan=native` and
 * VK_ICD_FILENAMES naming lavapipe's ICD, `--ignore-gpu-blocklist`, or `--use-webgpu-adapter=default`,
 * Chromium still hands out SwiftShader (observed; the reason is not established), and
 * `--use-gl=angle --disable-vulkan-surface` leaves no adapter at all.
 */
import { existsSync } from 'node:fs';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_WEBGPU_FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu-sandbox',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-angle=vulkan',
  // the system's Vulkan driver where there is a GPU; here Chromium falls back to SwiftShader itself
  '--use-vulkan=native',
];

/** Why page tests cannot run here, or null when they can. */
export function chromiumSkipReason(): string | null {
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`;
  return null;
}
