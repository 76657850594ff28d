"""A stand-in for BPJS Ketenagakerjaan (KC Musi Banyuasin dan Banyuasin): it answers enrollment
requests with confirmations or rejections by deterministic rules. No public partner API exists."""
