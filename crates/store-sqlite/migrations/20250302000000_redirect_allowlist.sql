-- The product pages an environment's end users may be sent back to after connecting:
-- a JSON array of exact URLs.
ALTER TABLE environments ADD COLUMN allowed_redirect_urls TEXT NOT NULL DEFAULT '[]';
