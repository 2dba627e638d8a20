import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, tempDir } from './node-process.js';

/**
 * Packs a bundle with mimik's own `@mimik/edge-ms-packager` (a real third-party producer), the way
 * mim projects use it: config/default.yml + package.json in the project dir, run from there.
 * Returns the tar and the repo tag it wrote (`<imageName>-v1:<version>`).
 */
export function packWithMimikPackager(
  bundle: Buffer,
  imageName: string,
  version = '1.0.0',
): { tar: Buffer; repoTag: string } {
  const dir = tempDir('mimoe-packager-');
  try {
    fs.mkdirSync(path.join(dir, 'build'));
    fs.mkdirSync(path.join(dir, 'config'));
    fs.writeFileSync(path.join(dir, 'build', 'index.js'), bundle);
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: imageName, version }));
    fs.writeFileSync(
      path.join(dir, 'config', 'default.yml'),
      `name: test\npackage:\n  imageName: ${imageName}\n  imageIndexFilePath: ./build/index.js\n  outputFolder: ./deploy\n`,
    );
    const script = path.join(ROOT, 'node_modules', '@mimik', 'edge-ms-packager', 'index.js');
    execFileSync(process.execPath, [script], {
      cwd: dir,
      stdio: 'pipe',
      env: { ...process.env, NODE_CONFIG_DIR: path.join(dir, 'config') },
    });
    const out = path.join(dir, 'deploy', `${imageName}-v1-${version}.tar`);
    return { tar: fs.readFileSync(out), repoTag: `${imageName}-v1:${version}` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
