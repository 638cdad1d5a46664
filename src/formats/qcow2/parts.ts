import type { ImageFile } from '../../io/image-file.js';
import type { MetadataBudget } from '../../util/metadata-budget.js';
import type { HeaderExtensions } from './extensions.js';
import type { Qcow2Header } from './header.js';
import type { Snapshot } from './snapshots.js';

/** What open found besides the header: extensions, backing file, data file, snapshots. */
export interface Qcow2Parts {
  path: string;
  file: ImageFile;
  header: Qcow2Header;
  extensions: HeaderExtensions;
  backingFile?: string;
  /** The external data file, when the image has one. */
  dataFile?: ImageFile;
  /** The internal snapshots ("Snapshots"). */
  snapshots: Snapshot[];
  /** Bytes of the snapshot table they were read from. */
  snapshotTableBytes: number;
  /** The snapshot opened, when not the active L1 table. */
  snapshot?: Snapshot;
  warnings: string[];
  /** What the image's tables may hold in memory: the snapshot table, the L1 table, a writer's refcount table, a check's tables. */
  budget: MetadataBudget;
}
