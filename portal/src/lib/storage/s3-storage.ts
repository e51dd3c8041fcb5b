import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { assertKey, type ObjectInfo, type Storage } from './storage';

export interface S3StorageOptions {
  bucket: string;
  region: string;
  /** An S3-compatible endpoint (MinIO, s3rver…); unset: AWS S3. */
  endpoint?: string;
  /** Bucket in the path instead of the host name (most S3-compatible servers need it). */
  forcePathStyle?: boolean;
  /** Explicit credentials (tests); unset: the SDK's default chain (env, profile, task role). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Part size of multipart uploads (≥ 5 MiB on S3); a body smaller than one part is one PutObject. */
  partBytes?: number;
  /** Keys per ListObjectsV2 page (default: the server's, 1000 on S3); tests page with less. */
  listPageSize?: number;
}

const MIB = 1024 * 1024;

/**
 * Storage in an S3 bucket, with the same contract as FsStorage (see storage.ts). Streams are
 * uploaded in parts (multipart upload) and only completed once the whole body was read, so a
 * failed stream leaves no object (the upload is aborted); a body smaller than one part is a
 * single PutObject. Keys are checked with the same rules as on the filesystem.
 */
export class S3Storage implements Storage {
  readonly kind = 's3' as const;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly partBytes: number;
  private readonly listPageSize?: number;

  constructor(opts: S3StorageOptions) {
    this.bucket = opts.bucket;
    this.partBytes = Math.max(5 * MIB, opts.partBytes ?? 8 * MIB);
    this.listPageSize = opts.listPageSize;
    this.client = new S3Client({
      region: opts.region,
      ...(opts.endpoint && {
        endpoint: opts.endpoint,
        // S3-compatible servers often lack the SDK's default checksums (s3rver would store
        // aws-chunked framing as the object's bytes): only send them where the API demands.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      }),
      forcePathStyle: opts.forcePathStyle ?? false,
      ...(opts.credentials && { credentials: opts.credentials }),
    });
  }

  async put(key: string, body: Readable | Buffer): Promise<ObjectInfo> {
    assertKey(key);
    if (Buffer.isBuffer(body)) {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body }));
      return (await this.head(key))!;
    }
    let uploadId: string | undefined;
    const parts: CompletedPart[] = [];
    const sendPart = async (data: Buffer) => {
      uploadId ??= (
        await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key }))
      ).UploadId;
      const PartNumber = parts.length + 1;
      const r = await this.client.send(
        new UploadPartCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          PartNumber,
          Body: data,
        }),
      );
      parts.push({ PartNumber, ETag: r.ETag });
    };
    try {
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      for await (const chunk of body) {
        const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
        pending.push(buf);
        pendingBytes += buf.length;
        if (pendingBytes >= this.partBytes) {
          await sendPart(Buffer.concat(pending));
          pending = [];
          pendingBytes = 0;
        }
      }
      const rest = Buffer.concat(pending);
      if (!uploadId) {
        await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: rest }));
      } else {
        if (rest.length > 0) await sendPart(rest);
        await this.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.bucket,
            Key: key,
            UploadId: uploadId,
            MultipartUpload: { Parts: parts },
          }),
        );
      }
    } catch (e) {
      if (uploadId) {
        await this.client
          .send(
            new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }),
          )
          .catch(() => {});
      }
      throw e;
    }
    return (await this.head(key))!;
  }

  async get(key: string): Promise<Readable | null> {
    assertKey(key);
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return r.Body instanceof Readable
        ? r.Body
        : Readable.fromWeb(r.Body!.transformToWebStream() as never);
    } catch (e) {
      if (isMissing(e)) return null;
      throw e;
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    assertKey(key);
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { key, bytes: r.ContentLength ?? 0, modifiedAt: r.LastModified?.getTime() ?? 0 };
    } catch (e) {
      if (isMissing(e)) return null;
      throw e;
    }
  }

  async delete(key: string): Promise<void> {
    assertKey(key);
    // S3 deletes are idempotent: a missing key succeeds.
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const r = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: prefix,
          ContinuationToken: token,
          MaxKeys: this.listPageSize,
        }),
      );
      for (const o of r.Contents ?? []) if (o.Key) keys.push(o.Key);
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
  }

  /** Closes the client's sockets (tests, shutdown). */
  destroy(): void {
    this.client.destroy();
  }
}

function isMissing(e: unknown): boolean {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  return (
    err.name === 'NoSuchKey' || err.name === 'NotFound' || err.$metadata?.httpStatusCode === 404
  );
}
