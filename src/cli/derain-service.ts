/**
 * The de-raining service `tessera serve --derain <dir>` gives the server: PNG bytes in and out,
 * the networks of `<dir>` (filter.safetensors, refiner.safetensors, prenet.safetensors,
 * transformer.safetensors, as scripts/derain/train.py writes them) loaded on first use and kept.
 */
import { join } from 'node:path';
import type { Backend } from '../backends/backend.js';
import { DerainModel } from '../models/derain/derain-model.js';
import { PrenetModel } from '../models/derain/prenet-model.js';
import { RestormerModel } from '../models/derain/restormer-model.js';
import type { DerainRequest, DerainResult, DerainService } from '../server/derain-route.js';
import type { RgbImage } from '../vision/image.js';
import { decodePng, encodePng } from '../vision/png.js';
import { priorDerain } from '../vision/prior-derain.js';

interface Runs {
  run(...imgs: RgbImage[]): Promise<RgbImage>;
}

export function derainService(dir: string, backend: Backend): DerainService {
  const loaded = new Map<string, Promise<Runs>>();
  const model = (name: string): Promise<Runs> => {
    let m = loaded.get(name);
    if (!m) {
      const path = join(dir, `${name}.safetensors`);
      m =
        name === 'prenet'
          ? PrenetModel.open(path, backend)
          : name === 'transformer'
            ? RestormerModel.open(path, backend)
            : DerainModel.open(path, backend).then((d) => ({ run: (x: RgbImage, r?: RgbImage) => d.run(x, r) }));
      // a failed load is not kept: the next request tries again
      m.catch(() => loaded.delete(name));
      loaded.set(name, m);
    }
    return m;
  };
  return {
    inputErrorNames: ['PngError', 'DerainConfigError', 'RangeError'],
    async refine(req: DerainRequest): Promise<DerainResult> {
      const t0 = performance.now();
      const image = decodePng(req.image, 'image');
      const reference = req.reference ? decodePng(req.reference, 'reference') : undefined;
      const derained =
        req.base === undefined
          ? image
          : req.base === 'prior'
            ? priorDerain(image)
            : await (await model(req.base)).run(image);
      const out = await (await model(req.refiner ? 'refiner' : 'filter')).run(
        derained,
        ...(reference ? [reference] : []),
      );
      return { png: encodePng(out), width: out.width, height: out.height, ms: performance.now() - t0 };
    },
  };
}
