/**
 * `POST /v1/images/derain` and the `/derain` page: the reference-guided de-raining filter behind
 * the API. The route knows JSON and base64 only; image decoding and the networks live in the
 * `DerainService` the server is given (Node: `src/cli/derain-service.ts`), so this module stays
 * runtime-neutral.
 *
 * Request: `{ "image": <base64 PNG>, "reference": <base64 PNG>, "base"?: "prior"|"prenet"|"transformer", "refiner"?: bool }`
 * (`base` set: `image` is the rainy image and that base de-rains it first). Response:
 * `{ "image": <base64 PNG>, "width", "height", "ms" }`.
 */
import type { Hono } from 'hono';
import { z } from 'zod';
import { ApiError } from './errors.js';
import { readJsonBody } from './request-body.js';
import { DERAIN_PAGE_HTML } from './web/derain-page.js';

export const DERAIN_BASES = ['prior', 'prenet', 'transformer'] as const;

export interface DerainRequest {
  readonly image: Uint8Array;
  readonly reference?: Uint8Array;
  readonly base?: (typeof DERAIN_BASES)[number];
  readonly refiner?: boolean;
}

export interface DerainResult {
  readonly png: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly ms: number;
}

/** What the route calls. Errors whose `name` is in `inputErrorNames` are the caller's fault (400). */
export interface DerainService {
  refine(req: DerainRequest): Promise<DerainResult>;
  readonly inputErrorNames: readonly string[];
}

const base64 = z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/, 'must be base64 (a PNG file)');
const derainRequest = z
  .object({
    image: base64,
    reference: base64.optional(),
    base: z.enum(DERAIN_BASES).optional(),
    refiner: z.boolean().optional(),
  })
  .strict();

const fromBase64 = (s: string): Uint8Array => Uint8Array.from(atob(s), (ch) => ch.charCodeAt(0));

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function useDerainRoutes(app: Hono, service: DerainService, maxBodyBytes: number): void {
  app.get('/derain', (c) => c.html(DERAIN_PAGE_HTML));
  app.post('/v1/images/derain', async (c) => {
    const parsed = derainRequest.safeParse(await readJsonBody(c.req.raw, maxBodyBytes));
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const param = issue.path.join('.') || null;
      throw new ApiError(400, `${param ?? 'body'}: ${issue.message}`, 'invalid_request_error', param, 'invalid_value');
    }
    const body = parsed.data;
    try {
      const out = await service.refine({
        image: fromBase64(body.image),
        ...(body.reference ? { reference: fromBase64(body.reference) } : {}),
        ...(body.base ? { base: body.base } : {}),
        ...(body.refiner !== undefined ? { refiner: body.refiner } : {}),
      });
      return c.json({ image: toBase64(out.png), width: out.width, height: out.height, ms: out.ms });
    } catch (e) {
      if (service.inputErrorNames.includes((e as Error).name))
        throw new ApiError(400, (e as Error).message, 'invalid_request_error', null, 'invalid_image');
      throw e;
    }
  });
}
