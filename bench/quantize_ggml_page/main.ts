/** bench/quantize_ggml.ts's comparison on this page's adapter (?values=N&types=Q4_K,Q6_K). */
import { createGpu } from '../../src/gpu/device.ts';
import { quantizeGgmlReport } from '../quantize_ggml.ts';
import { reportPage, showInOut } from '../page_result.ts';

const q = new URLSearchParams(location.search);
const n = q.get('values');
const types = q.get('types');
const run = createGpu().then(async (gpu) => ({ text: await quantizeGgmlReport(gpu, n ? Number(n) : undefined, types?.split(',')) }));
reportPage(run, showInOut, (r) => r.text);
