CREATE TABLE `ahenk_apply_guard` (
	`id` integer PRIMARY KEY NOT NULL
);
--> statement-breakpoint
CREATE TABLE `ahenk_clock` (
	`id` integer PRIMARY KEY NOT NULL,
	`hlc` integer NOT NULL,
	`folded` integer DEFAULT 0 NOT NULL,
	`compacted` integer DEFAULT 0 NOT NULL,
	CONSTRAINT "ahenk_clock_single_row" CHECK("ahenk_clock"."id" = 0)
);
--> statement-breakpoint
CREATE TABLE `ahenk_cursors` (
	`peer_id` text PRIMARY KEY NOT NULL,
	`received` text DEFAULT '0' NOT NULL
);
--> statement-breakpoint
CREATE TABLE `ahenk_devices` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text DEFAULT '' NOT NULL,
	`device_type` text DEFAULT '' NOT NULL,
	`push_token` text,
	`peer_id` text,
	`created_at` integer DEFAULT 0 NOT NULL,
	`revoked_at` integer
);
--> statement-breakpoint
CREATE INDEX `ahenk_devices_peer` ON `ahenk_devices` (`peer_id`);--> statement-breakpoint
CREATE INDEX `ahenk_devices_user` ON `ahenk_devices` (`user_id`);--> statement-breakpoint
CREATE TABLE `ahenk_meta` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `ahenk_oplog` (
	`seq` integer PRIMARY KEY NOT NULL,
	`hlc` integer,
	`site` integer DEFAULT 0 NOT NULL,
	`tbl` integer NOT NULL,
	`pk` text NOT NULL,
	`op` integer NOT NULL,
	`cl` integer NOT NULL,
	`cols` integer DEFAULT 0 NOT NULL,
	`ix` integer,
	`more` blob
);
--> statement-breakpoint
CREATE INDEX `ahenk_oplog_row` ON `ahenk_oplog` (`tbl`,`pk`,`cl`) WHERE "ahenk_oplog"."ix" = 1;--> statement-breakpoint
CREATE TABLE `ahenk_peers` (
	`peer_id` text PRIMARY KEY NOT NULL,
	`addresses` text DEFAULT '[]' NOT NULL,
	`last_seen` integer,
	`last_sync` integer
);
--> statement-breakpoint
CREATE TABLE `ahenk_quarantine` (
	`id` integer PRIMARY KEY NOT NULL,
	`table_name` text NOT NULL,
	`reason` text NOT NULL,
	`entry` text NOT NULL,
	`received_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `ahenk_revocations` (
	`peer_id` text PRIMARY KEY NOT NULL,
	`revoked_at` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE `ahenk_sites` (
	`id` integer PRIMARY KEY NOT NULL,
	`device` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `ahenk_sites_device_unique` ON `ahenk_sites` (`device`);--> statement-breakpoint
CREATE TABLE `ahenk_tables` (
	`id` integer PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`pk_column` text NOT NULL,
	`columns` text NOT NULL,
	`resolvers` text DEFAULT '{}' NOT NULL,
	`trigger_hash` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `ahenk_tables_name_unique` ON `ahenk_tables` (`name`);--> statement-breakpoint
CREATE TABLE `ahenk_users` (
	`id` text PRIMARY KEY NOT NULL,
	`user_name` text NOT NULL,
	`email` text NOT NULL,
	`password_hash` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `ahenk_users_user_name_unique` ON `ahenk_users` (`user_name`);--> statement-breakpoint
CREATE UNIQUE INDEX `ahenk_users_email_unique` ON `ahenk_users` (`email`);