import type { FastifyInstance } from 'fastify';
import { MimoeError, isMimoeError } from '../../errors/index.js';
import { toImageView } from '../../images/image.js';
import { tarballResource } from '../../jsonrpc/index.js';
import type { AppDeps } from '../deps.js';

/**
 * Errors of the multipart parser (malformed boundaries, unterminated parts, too many parts) are
 * the client's: 400. System errors (disk full...) stay internal.
 */
function asUploadError(err: unknown): unknown {
  if (isMimoeError(err)) return err;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new MimoeError('ERR_IMAGE_INVALID', `malformed multipart upload: ${message.slice(0, 200)}`, {
    cause: err,
  });
}

/** `GET/POST /images`, `DELETE /images/{id}` (seed: Images). */
export function imageRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.get('/images', async (request) => {
    return { data: deps.images.list(request.clientId).map(toImageView) };
  });

  app.post('/images', async (request, reply) => {
    if (!request.isMultipart()) {
      throw new MimoeError(
        'ERR_IMAGE_INVALID',
        'upload the image as multipart/form-data in a field named "image"',
      );
    }
    let stored: ReturnType<typeof toImageView> | undefined;
    try {
      for await (const part of request.parts()) {
        if (part.type !== 'file') continue;
        if (part.fieldname !== 'image' || stored !== undefined) {
          part.file.resume();
          continue;
        }
        const record = await deps.images.ingest(request.clientId, part.file, () => part.file.truncated);
        stored = toImageView(record);
        deps.metrics.imageUploaded();
        request.log.info({ image: record.id, size: record.size, digest: record.digest }, 'image uploaded');
      }
    } catch (err) {
      throw asUploadError(err);
    }
    if (stored === undefined)
      throw new MimoeError('ERR_IMAGE_INVALID', 'the multipart field "image" holding the tar is missing');
    return reply.code(200).send(stored);
  });

  app.delete<{ Params: { id: string } }>('/images/:id', async (request) => {
    const { id } = request.params;
    const image = deps.images.get(request.clientId, id);
    if (image === undefined) throw new MimoeError('ERR_IMAGE_NOT_FOUND', `image ${id} not found`);
    deps.images.assertNotAddon(image);
    const users = deps.mims.usersOfImage(request.clientId, id);
    if (users.length > 0) {
      throw new MimoeError('ERR_IMAGE_IN_USE', `image ${id} is used by mims: ${users.join(', ')}`, {
        details: { mims: users },
      });
    }
    return toImageView(deps.images.delete(request.clientId, id));
  });
}

/** A file name for Content-Disposition: the image name with anything unusual replaced. */
function downloadName(name: string, gzip: boolean): string {
  return `${name.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 128)}${gzip ? '.tar.gz' : '.tar'}`;
}

/**
 * `GET /images/{id}/tarball?hmac=CODE` (seed: Download Image Tarball): the image's tar exactly as it
 * was uploaded, streamed from disk.
 *
 * Decision: the code is the whole authorisation, like a download link, and no MCM key is needed
 * (the seed lists `hmac` as the only requirement). Registered outside the MCM key hook for that
 * reason. The code is bound to the full image id, which names the client, so it opens one image
 * of one client and nothing else. The code is checked before the image is looked up: without a
 * valid code, nobody learns whether an image exists.
 */
export function imageTarballRoute(app: FastifyInstance, deps: AppDeps): void {
  app.get<{ Params: { id: string }; Querystring: Record<string, unknown> }>(
    '/images/:id/tarball',
    // HEAD would open the file for nothing; the download link is for GET.
    { exposeHeadRoute: false },
    async (request, reply) => {
      const { id } = request.params;
      const hmac = request.query['hmac'];
      if (typeof hmac !== 'string' || hmac === '') {
        throw new MimoeError(
          'ERR_HMAC_INVALID',
          'the query parameter hmac is required once (mint a code with the JSON-RPC method getEdgeHmacCode)',
        );
      }
      const check = deps.edgeHmac.check(hmac, tarballResource(id));
      if (check === 'expired') throw new MimoeError('ERR_HMAC_EXPIRED', 'the hmac code has expired');
      if (check !== 'ok')
        throw new MimoeError('ERR_HMAC_INVALID', 'the hmac code is not valid for this image');
      const image = deps.images.byId(id);
      const tar = image === undefined ? undefined : await deps.images.openTar(image);
      if (image === undefined || tar === undefined) {
        throw new MimoeError('ERR_IMAGE_NOT_FOUND', `image ${id} not found`);
      }
      request.log.info({ image: image.id, size: tar.size }, 'image tarball download');
      return reply
        .header('content-type', tar.gzip ? 'application/gzip' : 'application/tar')
        .header('content-length', String(tar.size))
        .header('content-disposition', `attachment; filename="${downloadName(image.name, tar.gzip)}"`)
        .header('etag', `"${image.digest}"`)
        .header('cache-control', 'no-store')
        .send(tar.handle.createReadStream({ start: 0 }));
    },
  );
}
