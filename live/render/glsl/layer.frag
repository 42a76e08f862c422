#version 330 core
// One layer over the stack below it, in one pass: a generator (SOURCE) drawn and blended
// (MODE) with the layers below at the layer's opacity. SOURCE: 1 solid (a colour wash),
// 2 gradient, 3 rings, 4 stripes, 5 noise, 6 a picture (an ISF layer's, in layer_image, its alpha
// kept); MODE: 0 normal, 1 add, 2 screen, 3 multiply, 4 difference (compiled-in switches, as in
// neural.frag).
#ifndef SOURCE
#define SOURCE 1
#endif
#ifndef MODE
#define MODE 0
#endif
in vec2 image_uv;
out vec4 colour;

uniform sampler2D below;
uniform sampler2D layer_image;  // SOURCE 6
uniform bool layer_alpha;       // SOURCE 6: mix by the picture's alpha (generators); a filter's
                                // picture is opaque, as when it is drawn straight into the stack
uniform vec2 canvas_size;       // the whole picture in render pixels (a tile's canvas)
uniform vec4 view;              // the target on the canvas: canvas uv = xy + image_uv * zw
uniform float phase;            // seconds of the layer's own clock (advanced by its speed)
uniform float scale;            // pattern size: larger = more repeats
uniform float hue;              // degrees
uniform float opacity;

const float TAU = 6.28318530717959;

vec3 hue_colour(float degrees) {
    // a fully saturated colour on the hue circle, 0 = red
    vec3 k = mod(vec3(5.0, 3.0, 1.0) + degrees / 60.0, 6.0);
    return 1.0 - clamp(min(k, 4.0 - k), 0.0, 1.0);
}

float hash(vec2 p) {
    p = fract(p * vec2(123.34, 456.21));
    p += dot(p, p + 45.32);
    return fract(p.x * p.y);
}

float value_noise(vec2 p) {
    vec2 cell = floor(p);
    vec2 f = fract(p);
    vec2 s = f * f * (3.0 - 2.0 * f);
    return mix(mix(hash(cell), hash(cell + vec2(1.0, 0.0)), s.x),
               mix(hash(cell + vec2(0.0, 1.0)), hash(cell + vec2(1.0, 1.0)), s.x), s.y);
}

vec3 generate(vec2 p) {
    // p: y from -1 to 1, x scaled by the aspect; one pixel is `px` of these units
    float px = 2.0 / canvas_size.y;
#if SOURCE == 1
    return hue_colour(hue);
#elif SOURCE == 2
    // a gradient turning slowly, between the layer's hue and the one opposite
    float a = 0.15 * phase;
    float t = 0.5 + 0.5 * sin(dot(p, vec2(cos(a), sin(a))) * 1.5 * scale + 0.7 * phase);
    return mix(hue_colour(hue), hue_colour(hue + 180.0), t);
#elif SOURCE == 3
    // rings running out from the centre; the edge softened by one pixel
    float r = length(p) * 4.0 * scale - phase;
    float edge = px * 4.0 * scale;
    float band = smoothstep(0.5 - edge, 0.5 + edge, abs(fract(r) - 0.5) * 2.0);
    return hue_colour(hue) * band;
#elif SOURCE == 4
    // bars turning about the centre, anti-aliased over one pixel
    float a = 0.25 * phase;
    float u = dot(p, vec2(cos(a), sin(a))) * 3.0 * scale + 0.5 * phase;
    float edge = px * 3.0 * scale;
    float bar = smoothstep(0.25 - edge, 0.25 + edge, abs(fract(u) - 0.5));
    return hue_colour(hue) * bar;
#else
    // two octaves of value noise drifting: smoke in the layer's hue
    vec2 q = p * 2.0 * scale + vec2(0.3 * phase, -0.2 * phase);
    float n = 0.65 * value_noise(q) + 0.35 * value_noise(q * 2.03 + 7.1);
    return hue_colour(hue) * smoothstep(0.25, 0.85, n);
#endif
}

vec3 blend(vec3 b, vec3 l) {
#if MODE == 1
    return b + l;
#elif MODE == 2
    return 1.0 - (1.0 - b) * (1.0 - l);
#elif MODE == 3
    return b * l;
#elif MODE == 4
    return abs(b - l);
#else
    return l;
#endif
}

void main() {
    float aspect = canvas_size.x / canvas_size.y;
    vec2 p = ((view.xy + image_uv * view.zw) * 2.0 - 1.0) * vec2(aspect, 1.0);
    vec3 b = texture(below, image_uv).rgb;
#if SOURCE == 6
    vec4 l = texture(layer_image, image_uv);
    vec3 blended = clamp(blend(b, l.rgb), 0.0, 1.0);
    float a = layer_alpha ? clamp(l.a, 0.0, 1.0) : 1.0;
    colour = vec4(mix(b, blended, opacity * a), 1.0);
#else
    vec3 blended = clamp(blend(b, generate(p)), 0.0, 1.0);
    colour = vec4(mix(b, blended, opacity), 1.0);
#endif
}
