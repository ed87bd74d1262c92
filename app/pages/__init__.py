"""The built-in Ardoise page of each business: HTML for people, Atom for feed readers."""
