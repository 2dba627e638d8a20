import fs from 'node:fs';
import path from 'node:path';
import { MimoeError } from '../../src/errors/index.js';
import type { ImageStore } from '../../src/images/store.js';
import { MimRegistry, type MimHost } from '../../src/mims/registry.js';
import type { MimSpec } from '../../src/sandbox/types.js';
import type { Db } from '../../src/state/node-db.js';

/**
 * The sandbox side of a registry under test: records what it runs and creates each mim's
 * DataStore file as a sandbox would; `refuse` makes a deploy fail as the supervisor does once the
 * node is shutting down. These tests are about what gets deployed, not about running mims.
 */
export class StandInHost implements MimHost {
  readonly running = new Map<string, MimSpec>();
  deploys = 0;
  refuse: (spec: MimSpec) => boolean = () => false;

  deploy(spec: MimSpec): void {
    if (this.refuse(spec)) throw new MimoeError('ERR_SHUTTING_DOWN', 'the node is shutting down');
    this.deploys += 1;
    this.running.set(spec.mimId, spec);
    fs.mkdirSync(spec.dataDir, { recursive: true });
    fs.writeFileSync(path.join(spec.dataDir, 'store.db'), '');
  }
  async undeploy(mimId: string): Promise<void> {
    this.running.delete(mimId);
  }
  isStopped(): boolean {
    return false;
  }
  async pauseStore(): Promise<() => void> {
    return () => undefined;
  }
}

/** A registry on a real node.db and image store in `workDir`, with `host` as its sandbox side. */
export function registryFor(workDir: string, db: Db, images: ImageStore, host: MimHost): MimRegistry {
  return new MimRegistry(
    db,
    images,
    host,
    { nodeId: 'node', accountId: () => '', httpPort: () => 0 },
    {
      memoryMb: 64,
      dataRoot: path.join(workDir, 'datastore'),
      backupDir: path.join(workDir, 'backups'),
      dataKey: () => 'k'.repeat(64),
      quota: { storeBytes: 64 * 1024 * 1024, filesBytes: 64 * 1024 * 1024 },
      outbound: { maxBodyBytes: 1024 * 1024, maxFileBytes: 1024 * 1024, originHosts: [] },
      originOf: () => '',
    },
  );
}
