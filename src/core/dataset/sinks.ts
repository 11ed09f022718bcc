/**
 * Where exported rows go: JSON Lines or Parquet, both written incrementally so memory holds one
 * row group at most.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { fileWriter, ParquetWriter } from 'hyparquet-writer';
import { parquetSchema, type ColumnSpec, type DatasetRow } from './columns';

export interface RowSink {
  write(rows: DatasetRow[]): Promise<void>;
  close(): Promise<void>;
}

/** JSON Lines: one object per line; timestamps (epoch ms in rows) as ISO 8601 UTC, activations as number arrays. */
export class JsonlSink implements RowSink {
  private readonly stream: WriteStream;
  private failed: Error | null = null;

  constructor(
    path: string,
    private readonly columns: ColumnSpec[],
  ) {
    this.stream = createWriteStream(path, { encoding: 'utf8' });
    this.stream.on('error', (error) => (this.failed = error));
  }

  async write(rows: DatasetRow[]): Promise<void> {
    if (this.failed) throw this.failed;
    let text = '';
    for (const row of rows) {
      const out: Record<string, unknown> = {};
      for (const c of this.columns) {
        const value = row[c.name as keyof DatasetRow];
        out[c.name] =
          c.type === 'timestamp'
            ? Array.isArray(value)
              ? value.map((ms) => new Date(ms as number).toISOString())
              : new Date(value as number).toISOString()
            : value instanceof Float32Array
              ? Array.from(value)
              : (value ?? null);
      }
      text += JSON.stringify(out) + '\n';
    }
    // Respect backpressure so a fast database cannot pile rows up in the stream's buffer.
    if (!this.stream.write(text)) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    this.stream.end();
    await once(this.stream, 'finish');
    if (this.failed) throw this.failed;
  }
}

/**
 * Parquet through hyparquet-writer's incremental ParquetWriter: rows are buffered into a row
 * group of `rowGroupRows` and then encoded and flushed to the file.
 */
export class ParquetSink implements RowSink {
  private readonly writer: ParquetWriter;
  private buffered: DatasetRow[] = [];

  constructor(
    path: string,
    private readonly columns: ColumnSpec[],
    private readonly rowGroupRows = 5_000,
    kvMetadata: Array<{ key: string; value: string }> = [],
  ) {
    this.writer = new ParquetWriter({
      writer: fileWriter(path),
      schema: parquetSchema(columns),
      codec: 'SNAPPY',
      kvMetadata,
      createdBy: 'confab dataset export',
    });
  }

  async write(rows: DatasetRow[]): Promise<void> {
    for (const row of rows) {
      this.buffered.push(row);
      if (this.buffered.length >= this.rowGroupRows) await this.flush();
    }
  }

  private async flush(): Promise<void> {
    if (this.buffered.length === 0) return;
    const rows = this.buffered;
    this.buffered = [];
    const columnData = this.columns.map((c) => ({
      name: c.name,
      // Min/max statistics let readers skip row groups on scalar filters; on lists and long
      // texts nobody filters by them, and computing them is a large share of the encoding.
      statistics: !c.list && c.name !== 'prompt' && c.name !== 'explanation',
      // Floats and unique texts never repeat enough for a dictionary; trying one per row group
      // costs a sampling pass, so they are written PLAIN.
      ...(c.type === 'float' || c.type === 'double' || c.name === 'explanation' ? { encoding: 'PLAIN' as const } : {}),
      // Timestamps are epoch ms numbers, which hyparquet-writer takes for TIMESTAMP_MILLIS as it does Dates.
      data: rows.map((row) => {
        const value = row[c.name as keyof DatasetRow];
        return value instanceof Float32Array ? Array.from(value) : (value ?? null);
      }),
    }));
    await this.writer.write({ columnData, rowGroupSize: rows.length });
  }

  async close(): Promise<void> {
    await this.flush();
    await this.writer.finish();
  }
}
