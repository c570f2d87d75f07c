/**
 * Debian's Chromium, headless, with WebGPU on, for page tests.
 *
 * What makes `navigator.gpu` work headless here (Chromium 156, no display, no GPU):
 * - a secure context: the page is served from http://localhost (about:blank and data: URLs have no
 *   navigator.gpu);
 * - `--enable-unsafe-webgpu` (WebGPU on Linux is still behind it) and `--enable-features=Vulkan`
 *   with `--use-angle=vulkan`;
 * - `--no-sandbox --disable-gpu-sandbox` (containers without user namespaces).
 * The adapter is then SwiftShader, the Vulkan CPU renderer that Chromium ships (architecture
 * 'swiftshader', isFallbackAdapter true, no shader-f16, maxStorageBuffersPerShaderStage 10).
 *
 * Why not lavapipe: Chromium's Dawn does find it (chrome://gpu lists "<CPU> Vulkan backend -
 * llvmpipe (LLVM 15.0.6, 256 bits)" beside SwiftShader, and ANGLE renders on it), but the GPU
 * process's adapter choice (WebGPUDecoderImpl::CreatePreferredAdapter) takes an adapter only if it
 * can import external images or is SwiftShader by vendor/device id (0x1AE0:0xC0DE). Dawn's Vulkan
 * external-image support on Linux needs VK_EXT_image_drm_format_modifier and
 * VK_KHR_external_semaphore_fd; Mesa 25.0's lavapipe offers neither, so it is skipped before any
 * flag is consulted. No switch changes that: `--use-vulkan=native`, VK_ICD_FILENAMES naming
 * lavapipe's ICD, `--ignore-gpu-blocklist`, `--use-webgpu-adapter=default`, power preferences and
 * `forceFallbackAdapter` all still yield SwiftShader (CPU adapters are also on Chromium's WebGPU
 * blocklist, crbug.com/40057808, which `--enable-unsafe-webgpu` lifts). With
 * `--use-gl=angle --disable-vulkan-surface` there is no adapter at all.
 *
 * So the page tests run WebGPU on SwiftShader; kernels fit its 10 storage buffers per stage
 * (paged attention's compact binding layout).
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
  // the system's Vulkan driver where there is a GPU; here Chromium picks SwiftShader (see above)
  '--use-vulkan=native',
];

/** Why page tests cannot run here, or null when they can. */
export function chromiumSkipReason(): string | null {
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`;
  return null;
}
