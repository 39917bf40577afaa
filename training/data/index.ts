/**
 * training/data: the data sources (image folder, CIFAR-10 binary, generated
 * demo shapes) behind one `Dataset` shape, the dataset digest, and the
 * deterministic split. See README.md in this folder.
 */
export {
  CIFAR10_MD5,
  CIFAR10_URL,
  type LoadCifar10Options,
  loadCifar10,
} from './cifar10.ts';
export { computeDatasetDigest, type DigestEntry } from './digest.ts';
export { type DownloadOptions, downloadVerified } from './download.ts';
export {
  GENERATED_MARKER,
  type GeneratedDataset,
  type GenerateOptions,
  generateDemoDataset,
} from './generated.ts';
export {
  hasSplitFolders,
  type LoadImageFolderOptions,
  listImageFolder,
  loadImageFolder,
  type PerClassLimit,
  SPLIT_FOLDERS,
} from './image-folder.ts';
export {
  configuredMirror,
  type DataMirrors,
  defaultMirrorsFile,
  loadDataMirrors,
  MIRRORS_DOC,
  MIRRORS_ENV,
  type MirrorCandidate,
  type MirrorRule,
  mirrorCandidates,
  parseMirrorRules,
  userDataMirrors,
} from './mirrors.ts';
export {
  type DataPointer,
  type MaterializeOptions,
  materializeDataPointer,
  type PackedArchive,
  type PackOptions,
  packDataArchive,
  packDataPointer,
  readDataPointer,
  uploadDataArchive,
  writeDataPointer,
} from './pointer.ts';
export { mulberry32, type Rng } from './rng.ts';
export { SHAPES } from './shapes.ts';
export { type DataSourceSpec, loadDataSource } from './source.ts';
export { type SplitOptions, splitDataset, splitDigest } from './split.ts';
export { readTarFile, type TarEntryHeader, type TarFile, tarBytes, writeTarGz } from './tar.ts';
export type {
  DataSourceKind,
  Dataset,
  DatasetDigest,
  DatasetOrigin,
  DecodedImage,
  LabeledImage,
  Split,
  SplitRecord,
} from './types.ts';
