"""Everything between a decoded image and the screen: fx, display, HUD, recording."""
