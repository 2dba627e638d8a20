/** The mim image object of the seed (`GET /images`). */
export interface ImageView {
  id: string;
  name: string;
  digest: string;
  repoTags: string[];
  /** Unix seconds. */
  created: number;
  size: number;
}

/** An image as stored: the view plus where its bundle lives. */
export interface ImageRecord extends ImageView {
  clientId: string;
  /** Hex sha256 of the tar: names the blob directory holding image.tar and index.js. */
  blob: string;
}

export function toImageView(r: ImageRecord): ImageView {
  return { id: r.id, name: r.name, digest: r.digest, repoTags: r.repoTags, created: r.created, size: r.size };
}

export function objectId(clientId: string, name: string): string {
  return `${clientId}-${name}`;
}
