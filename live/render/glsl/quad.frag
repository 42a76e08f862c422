#version 330 core
// A straight-alpha texture (pygame's text with its outline and shadow, the HUD panel),
// tinted and faded; drawn with SRC_ALPHA, ONE_MINUS_SRC_ALPHA blending.
in vec2 quad_uv;
out vec4 colour;

uniform sampler2D image;
uniform float opacity;
uniform vec3 tint;              // multiplied in (text colour: white glyphs tinted)

void main() {
    vec4 texel = texture(image, quad_uv);
    colour = vec4(texel.rgb * tint, texel.a * opacity);
}
