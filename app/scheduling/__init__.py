"""Posts scheduled by SMS: the date grammar, the PROG/ANNULER Pn commands, the job that publishes them."""
