-- Where a rejected submission came from, for the office's report (no personal data).
ALTER TABLE submission ADD COLUMN kecamatan_code char(2);
