#version 330 core
// One layer composed over the stack below it: blend mode, then opacity.
in vec2 image_uv;
out vec4 colour;

uniform sampler2D below;
uniform sampler2D layer;
uniform int mode;               // 0 normal, 1 add, 2 screen, 3 multiply, 4 difference
uniform float opacity;

vec3 blend(vec3 b, vec3 l) {
    if (mode == 1) return b + l;
    if (mode == 2) return 1.0 - (1.0 - b) * (1.0 - l);
    if (mode == 3) return b * l;
    if (mode == 4) return abs(b - l);
    return l;
}

void main() {
    vec3 b = texture(below, image_uv).rgb;
    vec4 l = texture(layer, image_uv);
    vec3 blended = clamp(blend(b, l.rgb), 0.0, 1.0);
    colour = vec4(mix(b, blended, opacity * l.a), 1.0);
}
