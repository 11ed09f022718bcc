DROP INDEX "votes_reviewer";--> statement-breakpoint
CREATE INDEX "explanations_closed" ON "explanations" USING btree ("workspace_id","closed_at");--> statement-breakpoint
CREATE INDEX "votes_reviewer_created" ON "votes" USING btree ("reviewer_id","created_at");--> statement-breakpoint
CREATE INDEX "votes_created" ON "votes" USING btree ("created_at");