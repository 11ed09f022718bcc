CREATE TABLE "digest_posts" (
	"id" serial PRIMARY KEY NOT NULL,
	"workspace_id" integer NOT NULL,
	"channel" text NOT NULL,
	"scheduled_for" timestamp with time zone NOT NULL,
	"period_start" timestamp with time zone NOT NULL,
	"period_end" timestamp with time zone NOT NULL,
	"period_kind" text NOT NULL,
	"period_label" text NOT NULL,
	"time_zone" text NOT NULL,
	"late" boolean DEFAULT false NOT NULL,
	"claimed_by" text NOT NULL,
	"lease_until" timestamp with time zone NOT NULL,
	"attempts" integer DEFAULT 1 NOT NULL,
	"posted_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "digest_posts" ADD CONSTRAINT "digest_posts_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "digest_posts_fire" ON "digest_posts" USING btree ("workspace_id","channel","scheduled_for");--> statement-breakpoint
CREATE INDEX "digest_posts_unposted" ON "digest_posts" USING btree ("posted_at","lease_until");