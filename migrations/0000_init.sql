CREATE TABLE "activations" (
	"position_id" integer PRIMARY KEY NOT NULL,
	"d_model" integer NOT NULL,
	"vector" "bytea" NOT NULL
);
--> statement-breakpoint
CREATE TABLE "analyses" (
	"id" serial PRIMARY KEY NOT NULL,
	"workspace_id" integer NOT NULL,
	"channel_id" integer NOT NULL,
	"requester_id" integer NOT NULL,
	"prompt" text NOT NULL,
	"selection" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"nla_samples" integer DEFAULT 1 NOT NULL,
	"top_k" integer DEFAULT 8 NOT NULL,
	"model" text,
	"layer" integer,
	"d_model" integer,
	"positions" jsonb,
	"status" text DEFAULT 'queued' NOT NULL,
	"error" text,
	"error_code" text,
	"retryable" boolean DEFAULT true NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"message_ref" text,
	"reply_expires_at" timestamp with time zone,
	"timings" jsonb,
	"lease_until" timestamp with time zone,
	"claimed_by" text,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "analyses_status" CHECK ("analyses"."status" in ('queued', 'running', 'done', 'failed'))
);
--> statement-breakpoint
CREATE TABLE "channels" (
	"id" serial PRIMARY KEY NOT NULL,
	"workspace_id" integer NOT NULL,
	"external_id" text NOT NULL,
	"name" text,
	"settings" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "explanations" (
	"id" serial PRIMARY KEY NOT NULL,
	"position_id" integer NOT NULL,
	"analysis_id" integer NOT NULL,
	"workspace_id" integer NOT NULL,
	"sample" integer NOT NULL,
	"source" text DEFAULT 'nla' NOT NULL,
	"decoy_of_explanation_id" integer,
	"text" text NOT NULL,
	"raw" text NOT NULL,
	"parsed" boolean NOT NULL,
	"ar_cosine" double precision,
	"ar_mse_nrm" double precision,
	"ar_fve_nrm" double precision,
	"signals" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"state" text DEFAULT 'open' NOT NULL,
	"closed_reason" text,
	"closed_at" timestamp with time zone,
	"closed_by" integer,
	"faithful_votes" integer DEFAULT 0 NOT NULL,
	"confabulated_votes" integer DEFAULT 0 NOT NULL,
	"unsure_votes" integer DEFAULT 0 NOT NULL,
	"decisive_votes" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "explanations_source" CHECK ("explanations"."source" in ('nla', 'decoy')),
	CONSTRAINT "explanations_state" CHECK ("explanations"."state" in ('open', 'closed'))
);
--> statement-breakpoint
CREATE TABLE "install" (
	"id" smallint PRIMARY KEY DEFAULT 1 NOT NULL,
	"secret" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "install_single_row" CHECK ("install"."id" = 1)
);
--> statement-breakpoint
CREATE TABLE "positions" (
	"id" serial PRIMARY KEY NOT NULL,
	"analysis_id" integer NOT NULL,
	"position" integer NOT NULL,
	"token" text NOT NULL,
	"l0" integer NOT NULL,
	"explained_variance" double precision NOT NULL,
	"fve_nrm" double precision NOT NULL
);
--> statement-breakpoint
CREATE TABLE "reviewers" (
	"id" serial PRIMARY KEY NOT NULL,
	"platform" text NOT NULL,
	"user_id" text NOT NULL,
	"display_name" text NOT NULL,
	"pseudonym" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sae_features" (
	"position_id" integer NOT NULL,
	"rank" integer NOT NULL,
	"feature_index" integer NOT NULL,
	"activation" double precision NOT NULL,
	"label" text NOT NULL,
	CONSTRAINT "sae_features_position_id_rank_pk" PRIMARY KEY("position_id","rank")
);
--> statement-breakpoint
CREATE TABLE "settings" (
	"workspace_id" integer NOT NULL,
	"key" text NOT NULL,
	"value" jsonb,
	"updated_by" integer,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "settings_workspace_id_key_pk" PRIMARY KEY("workspace_id","key")
);
--> statement-breakpoint
CREATE TABLE "tokens" (
	"analysis_id" integer NOT NULL,
	"idx" integer NOT NULL,
	"token_id" integer NOT NULL,
	"text" text NOT NULL,
	"start" integer NOT NULL,
	"end" integer NOT NULL,
	"special" boolean DEFAULT false NOT NULL,
	CONSTRAINT "tokens_analysis_id_idx_pk" PRIMARY KEY("analysis_id","idx")
);
--> statement-breakpoint
CREATE TABLE "vote_history" (
	"id" serial PRIMARY KEY NOT NULL,
	"vote_id" integer NOT NULL,
	"explanation_id" integer NOT NULL,
	"reviewer_id" integer NOT NULL,
	"label" text NOT NULL,
	"previous_label" text,
	"note" text,
	"marked_claims" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "votes" (
	"id" serial PRIMARY KEY NOT NULL,
	"explanation_id" integer NOT NULL,
	"reviewer_id" integer NOT NULL,
	"label" text NOT NULL,
	"note" text,
	"marked_claims" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "votes_label" CHECK ("votes"."label" in ('faithful', 'confabulated', 'unsure'))
);
--> statement-breakpoint
CREATE TABLE "workspaces" (
	"id" serial PRIMARY KEY NOT NULL,
	"platform" text NOT NULL,
	"external_id" text NOT NULL,
	"name" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "activations" ADD CONSTRAINT "activations_position_id_positions_id_fk" FOREIGN KEY ("position_id") REFERENCES "public"."positions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "analyses" ADD CONSTRAINT "analyses_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "analyses" ADD CONSTRAINT "analyses_channel_id_channels_id_fk" FOREIGN KEY ("channel_id") REFERENCES "public"."channels"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "analyses" ADD CONSTRAINT "analyses_requester_id_reviewers_id_fk" FOREIGN KEY ("requester_id") REFERENCES "public"."reviewers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "channels" ADD CONSTRAINT "channels_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "explanations" ADD CONSTRAINT "explanations_position_id_positions_id_fk" FOREIGN KEY ("position_id") REFERENCES "public"."positions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "explanations" ADD CONSTRAINT "explanations_analysis_id_analyses_id_fk" FOREIGN KEY ("analysis_id") REFERENCES "public"."analyses"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "explanations" ADD CONSTRAINT "explanations_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "explanations" ADD CONSTRAINT "explanations_closed_by_reviewers_id_fk" FOREIGN KEY ("closed_by") REFERENCES "public"."reviewers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "positions" ADD CONSTRAINT "positions_analysis_id_analyses_id_fk" FOREIGN KEY ("analysis_id") REFERENCES "public"."analyses"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sae_features" ADD CONSTRAINT "sae_features_position_id_positions_id_fk" FOREIGN KEY ("position_id") REFERENCES "public"."positions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "settings" ADD CONSTRAINT "settings_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "settings" ADD CONSTRAINT "settings_updated_by_reviewers_id_fk" FOREIGN KEY ("updated_by") REFERENCES "public"."reviewers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tokens" ADD CONSTRAINT "tokens_analysis_id_analyses_id_fk" FOREIGN KEY ("analysis_id") REFERENCES "public"."analyses"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vote_history" ADD CONSTRAINT "vote_history_vote_id_votes_id_fk" FOREIGN KEY ("vote_id") REFERENCES "public"."votes"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "votes" ADD CONSTRAINT "votes_explanation_id_explanations_id_fk" FOREIGN KEY ("explanation_id") REFERENCES "public"."explanations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "votes" ADD CONSTRAINT "votes_reviewer_id_reviewers_id_fk" FOREIGN KEY ("reviewer_id") REFERENCES "public"."reviewers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "analyses_status_id" ON "analyses" USING btree ("status","id");--> statement-breakpoint
CREATE INDEX "analyses_workspace_created" ON "analyses" USING btree ("workspace_id","created_at");--> statement-breakpoint
CREATE INDEX "analyses_requester_created" ON "analyses" USING btree ("requester_id","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "channels_workspace_external" ON "channels" USING btree ("workspace_id","external_id");--> statement-breakpoint
CREATE INDEX "explanations_queue" ON "explanations" USING btree ("workspace_id","state","decisive_votes","id");--> statement-breakpoint
CREATE INDEX "explanations_position" ON "explanations" USING btree ("position_id");--> statement-breakpoint
CREATE INDEX "explanations_analysis" ON "explanations" USING btree ("analysis_id");--> statement-breakpoint
CREATE UNIQUE INDEX "positions_analysis_position" ON "positions" USING btree ("analysis_id","position");--> statement-breakpoint
CREATE UNIQUE INDEX "reviewers_platform_user" ON "reviewers" USING btree ("platform","user_id");--> statement-breakpoint
CREATE UNIQUE INDEX "reviewers_pseudonym" ON "reviewers" USING btree ("pseudonym");--> statement-breakpoint
CREATE INDEX "sae_features_feature_activation" ON "sae_features" USING btree ("feature_index","activation");--> statement-breakpoint
CREATE INDEX "vote_history_explanation" ON "vote_history" USING btree ("explanation_id");--> statement-breakpoint
CREATE INDEX "vote_history_created" ON "vote_history" USING btree ("created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "votes_explanation_reviewer" ON "votes" USING btree ("explanation_id","reviewer_id");--> statement-breakpoint
CREATE INDEX "votes_reviewer" ON "votes" USING btree ("reviewer_id");--> statement-breakpoint
CREATE UNIQUE INDEX "workspaces_platform_external" ON "workspaces" USING btree ("platform","external_id");