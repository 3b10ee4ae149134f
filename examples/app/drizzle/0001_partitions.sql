-- pgparts: written by `pgparts generate` from pgparts.config. Do not edit.
DO $pgparts$
DECLARE
  parent text;
  first_start timestamp := date_trunc('day', now() AT TIME ZONE 'UTC') - 3 * interval '1 day';
  start_at timestamp;
  part text;
BEGIN
  FOR i IN 0..10 LOOP
    start_at := first_start + i * interval '1 day';
    FOREACH parent IN ARRAY ARRAY['app_events'] LOOP
      part := parent || '_' || to_char(start_at, 'YYYY_MM_DD') || '';
      IF to_regclass(format('%I.%I', 'public', part)) IS NULL THEN
        EXECUTE format('CREATE TABLE %I.%I PARTITION OF %I.%I FOR VALUES FROM (%L) TO (%L)',
          'public', part, 'public', parent,
          to_char(start_at, 'YYYY-MM-DD HH24:MI:SS') || '+00',
          to_char(start_at + interval '1 day', 'YYYY-MM-DD HH24:MI:SS') || '+00');
        EXECUTE format('COMMENT ON TABLE %I.%I IS %L', 'public', part, 'pgparts:managed');
      END IF;
    END LOOP;
  END LOOP;
END
$pgparts$;
--> statement-breakpoint
CREATE TABLE "public"."region_orders_eu_west" PARTITION OF "public"."region_orders" FOR VALUES IN ('eu-west');
--> statement-breakpoint
COMMENT ON TABLE "public"."region_orders_eu_west" IS 'pgparts:managed';
--> statement-breakpoint
CREATE TABLE "public"."region_orders_us_east" PARTITION OF "public"."region_orders" FOR VALUES IN ('us-east');
--> statement-breakpoint
COMMENT ON TABLE "public"."region_orders_us_east" IS 'pgparts:managed';
--> statement-breakpoint
CREATE TABLE "public"."region_orders_ap_south" PARTITION OF "public"."region_orders" FOR VALUES IN ('ap-south');
--> statement-breakpoint
COMMENT ON TABLE "public"."region_orders_ap_south" IS 'pgparts:managed';
--> statement-breakpoint
CREATE TABLE "public"."region_orders_default" PARTITION OF "public"."region_orders" DEFAULT;
--> statement-breakpoint
COMMENT ON TABLE "public"."region_orders_default" IS 'pgparts:managed';
