CREATE TABLE "accounts" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"displayName" text NOT NULL,
	"createdAt" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "app_events" (
	"id" bigserial NOT NULL,
	"occurredAt" timestamp with time zone NOT NULL,
	"accountId" bigint NOT NULL,
	"kind" text NOT NULL,
	"payload" jsonb,
	CONSTRAINT "app_events_id_occurredAt_pk" PRIMARY KEY("id","occurredAt")
) PARTITION BY RANGE ("occurredAt");
--> statement-breakpoint
CREATE TABLE "region_orders" (
	"id" bigserial NOT NULL,
	"region" text NOT NULL,
	"placedAt" timestamp with time zone DEFAULT now() NOT NULL,
	"totalCents" bigint NOT NULL,
	CONSTRAINT "region_orders_region_id_pk" PRIMARY KEY("region","id")
) PARTITION BY LIST ("region");
--> statement-breakpoint
CREATE INDEX "app_events_account_idx" ON "app_events" USING btree ("accountId","occurredAt");