"""OAuth linking of Facebook, Instagram, Google Business Profile and X accounts."""
