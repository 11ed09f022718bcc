export interface ThrowawayPostgres {
  url: string;
  version: string;
  stop(): void;
  restart(): void;
  skipped?: undefined;
}
export function startThrowawayPostgres(): Promise<ThrowawayPostgres | { skipped: string; url?: undefined }>;
