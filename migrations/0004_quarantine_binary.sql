PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_ahenk_quarantine` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`table_name` text NOT NULL,
	`reason` text NOT NULL,
	`entry` blob NOT NULL,
	`received_at` integer NOT NULL,
	`bytes` integer DEFAULT 0 NOT NULL,
	`hlc` integer,
	`device` text
);
--> statement-breakpoint
INSERT INTO `__new_ahenk_quarantine`("id", "table_name", "reason", "entry", "received_at", "bytes", "hlc", "device") SELECT "id", "table_name", "reason", "entry", "received_at", length(CAST("entry" AS BLOB)), NULL, NULL FROM `ahenk_quarantine`;--> statement-breakpoint
DROP TABLE `ahenk_quarantine`;--> statement-breakpoint
ALTER TABLE `__new_ahenk_quarantine` RENAME TO `ahenk_quarantine`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `ahenk_quarantine_hlc` ON `ahenk_quarantine` (`hlc`) WHERE "ahenk_quarantine"."hlc" IS NOT NULL;