/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Gradient map: the picture's brightness picks a colour from three stops (shadows, midtones, highlights), so a soft neural image becomes a graphic duotone or tritone. The map can drift through time.",
    "CREDIT": "live project",
    "CATEGORIES": ["Filter", "Color"],
    "INPUTS": [
        {"NAME": "inputImage", "TYPE": "image", "LABEL": "Input"},
        {"NAME": "shadowColor", "TYPE": "color", "LABEL": "Shadow colour", "DEFAULT": [0.05, 0.0, 0.2, 1.0]},
        {"NAME": "midColor", "TYPE": "color", "LABEL": "Midtone colour", "DEFAULT": [0.9, 0.1, 0.45, 1.0]},
        {"NAME": "highlightColor", "TYPE": "color", "LABEL": "Highlight colour", "DEFAULT": [1.0, 0.9, 0.35, 1.0]},
        {"NAME": "midPoint", "TYPE": "float", "LABEL": "Midtone position", "MIN": 0.1, "MAX": 0.9, "DEFAULT": 0.5},
        {"NAME": "contrast", "TYPE": "float", "LABEL": "Contrast", "MIN": 0.25, "MAX": 4.0, "DEFAULT": 1.2},
        {"NAME": "cycleSpeed", "TYPE": "float", "LABEL": "Cycle speed (maps per second)", "MIN": 0.0, "MAX": 2.0, "DEFAULT": 0.0},
        {"NAME": "amount", "TYPE": "float", "LABEL": "Amount", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 1.0, "IDENTITY": 0.0}
    ]
}*/

// Cost: one texture fetch per pixel, a handful of ALU ops.

float luminance(vec3 c) { return dot(c, vec3(0.2126, 0.7152, 0.0722)); }

void main() {
    vec4 source = IMG_THIS_NORM_PIXEL(inputImage);
    float key = clamp((luminance(source.rgb) - 0.5) * contrast + 0.5, 0.0, 1.0);
    // cycling runs the key up and back down (a triangle wave), so the map never jumps
    float cycled = key + TIME * cycleSpeed;
    key = 1.0 - abs(1.0 - mod(cycled, 2.0));
    vec3 low = mix(shadowColor.rgb, midColor.rgb, clamp(key / midPoint, 0.0, 1.0));
    vec3 mapped = mix(low, highlightColor.rgb, clamp((key - midPoint) / (1.0 - midPoint), 0.0, 1.0));
    gl_FragColor = vec4(mix(source.rgb, mapped, amount), source.a);
}
