/** bench/fp8_codes.ts's check on this page's adapter. */
import { createGpu } from '../../src/gpu/device.ts';
import { fp8CodesReport } from '../fp8_codes.ts';
import { reportPage, showInOut } from '../page_result.ts';

reportPage(createGpu().then(fp8CodesReport), showInOut, (t) => t);
