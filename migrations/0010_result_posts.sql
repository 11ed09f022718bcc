ALTER TABLE "analyses" ADD COLUMN "posted_at" timestamp with time zone;--> statement-breakpoint
-- Results finished before this migration were shown (or lost) by the process of their time;
-- only results finished from now on are owed a post.
UPDATE "analyses" SET "posted_at" = coalesce("finished_at", "updated_at") WHERE "status" in ('done', 'failed');--> statement-breakpoint
CREATE INDEX "analyses_unposted" ON "analyses" USING btree ("id") WHERE "analyses"."posted_at" is null;
