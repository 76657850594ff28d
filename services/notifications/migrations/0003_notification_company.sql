-- The company a message is for (company-audience messages): its webhook is signed with that
-- company's secret (services/notifications/webhooks.py). NULL for workers' and the office's.
ALTER TABLE notification ADD COLUMN company_id text;
