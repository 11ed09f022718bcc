CREATE TABLE "explanation_state_changes" (
	"id" serial PRIMARY KEY NOT NULL,
	"explanation_id" integer NOT NULL,
	"state" text NOT NULL,
	"reason" text NOT NULL,
	"changed_by" integer,
	"faithful_votes" integer NOT NULL,
	"confabulated_votes" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "explanation_state_changes_state" CHECK ("explanation_state_changes"."state" in ('open', 'closed'))
);
--> statement-breakpoint
ALTER TABLE "explanation_state_changes" ADD CONSTRAINT "explanation_state_changes_explanation_id_explanations_id_fk" FOREIGN KEY ("explanation_id") REFERENCES "public"."explanations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "explanation_state_changes" ADD CONSTRAINT "explanation_state_changes_changed_by_reviewers_id_fk" FOREIGN KEY ("changed_by") REFERENCES "public"."reviewers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "explanation_state_changes_item" ON "explanation_state_changes" USING btree ("explanation_id");