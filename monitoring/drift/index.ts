/**
 * The offline drift job (docs/drift.md): score a folder of recent inputs
 * against a model artifact's reference statistics and write a report.
 */
export { type OfflineDriftOptions, type OfflineDriftReport, offlineDrift } from './offline.ts';
export { barsSvg, renderHtml, writeDriftReport } from './report.ts';
