CREATE TABLE "rate_limits" (
	"key" text PRIMARY KEY NOT NULL,
	"uses" timestamp with time zone[] NOT NULL
);
--> statement-breakpoint
ALTER TABLE "analyses" ADD COLUMN "watched_by" text;--> statement-breakpoint
ALTER TABLE "analyses" ADD COLUMN "watched_until" timestamp with time zone;