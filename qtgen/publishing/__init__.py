"""Drafts into the site's git repository: approve (`approval`) and what it does step by step (`placement`), its
journal and recovery, audited lots (`lots`, `lot_approval`), review actions (`review`), and provenance read back
from git."""
